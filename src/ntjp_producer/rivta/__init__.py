"""RIV-TA plumbing shared by every contract: envelope checks, logical address, faults, WSDL and
schema serving, PingForConfiguration. Contract adapters plug in below it."""
