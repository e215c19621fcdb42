// OpenISCSIConfig: open-iscsi configuration layout (in progress).
