// ISCSITarget module.
