/// A store that learns by itself that what backs it was resized (RBD's header watch), instead
/// of waiting for an administrator to ask (`refreshSize` after tgtadm's update).
public protocol ResizeNotifyingBackstore: Backstore {
    /// `handler` runs, on a thread of the store and never under its locks, after the size
    /// underneath changed; the owner then calls `refreshSize()`, which adopts the new size
    /// without blocking. nil removes the handler.
    func setResizeHandler(_ handler: (@Sendable () -> Void)?)
}
