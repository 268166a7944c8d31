"""HoSp: Socialstyrelsen's register of licensed health-care personnel (förordning 2006:196)."""
