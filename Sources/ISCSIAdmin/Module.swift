// ISCSIAdmin module.
