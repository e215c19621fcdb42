print("tgt-admin: not implemented yet")
