"""FMB, försäkringsmedicinskt beslutsstöd: import, versioning and queries (no SOAP here)."""
