print("tgtd")
