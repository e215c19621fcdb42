// ISCSIInitiator: the initiator library (in progress).
