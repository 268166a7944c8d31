"""Operations: what every call costs, against the SLAs, for the people who keep the producers up."""
