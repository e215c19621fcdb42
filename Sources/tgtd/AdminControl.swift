final class AdminControl { init(daemon: TargetDaemon) {}; func start() throws {}; func stop() {} }
