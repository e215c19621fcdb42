print("tgtadm")
