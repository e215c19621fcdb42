// ISCSIProtocol module.
