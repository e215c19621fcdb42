// SCSIProtocol module.
