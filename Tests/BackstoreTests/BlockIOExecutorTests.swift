import Backstore
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import XCTest

final class BlockIOExecutorTests: XCTestCase {
    private var group: MultiThreadedEventLoopGroup!
    private var executor: BlockIOExecutor!

    override func setUp() {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        executor = BlockIOExecutor(numberOfThreads: 3)
        executor.start()
    }

    override func tearDown() {
        executor.shutdown()
        try? group.syncShutdownGracefully()
    }

    func testJobsRunOffTheLoopAndCompleteOnIt() throws {
        let loop = group.next()
        let future = executor.run(on: loop) { () -> Bool in loop.inEventLoop }
        let ranOnLoop = try future.wait()
        XCTAssertFalse(ranOnLoop, "the job must not run on the event loop")
        let completedOnLoop = try executor.run(on: loop) { 1 }.map { _ in loop.inEventLoop }.wait()
        XCTAssertTrue(completedOnLoop, "the completion must run on the event loop")
    }

    func testBurstSubmittedFromInsideTheLoopAllComplete() throws {
        let loop = group.next()
        let futures = try loop.submit { () -> [EventLoopFuture<Int>] in
            (0..<500).map { i in self.executor.run(on: loop) { i * 2 } }
        }.wait()
        let values = try EventLoopFuture.whenAllSucceed(futures, on: loop).wait()
        XCTAssertEqual(values, (0..<500).map { $0 * 2 })
    }

    func testErrorsReachTheFuture() {
        struct Boom: Error {}
        let loop = group.next()
        XCTAssertThrowsError(try executor.run(on: loop) { () throws -> Int in throw Boom() }.wait()) { error in
            XCTAssertTrue(error is Boom)
        }
    }

    func testSlowJobsFanOutToOtherWorkers() throws {
        // Four jobs that each block for 200 ms finish in well under 800 ms only if more than one
        // worker takes them: the executor must wake sleepers when the awake worker is stuck.
        let loop = group.next()
        let running = NIOLockedValueBox((now: 0, peak: 0))
        let futures = try loop.submit { () -> [EventLoopFuture<Void>] in
            (0..<4).map { _ in
                self.executor.run(on: loop) {
                    running.withLockedValue { $0.now += 1; $0.peak = max($0.peak, $0.now) }
                    usleep(200_000)
                    running.withLockedValue { $0.now -= 1 }
                }
            }
        }.wait()
        try EventLoopFuture.andAllSucceed(futures, on: loop).wait()
        XCTAssertGreaterThan(running.withLockedValue { $0.peak }, 1)
    }

    func testShutdownRunsQueuedJobs() throws {
        let loop = group.next()
        let counter = NIOLockedValueBox(0)
        for _ in 0..<100 {
            executor.submit(on: loop) {
                counter.withLockedValue { $0 += 1 }
                return {}
            }
        }
        executor.shutdown()
        XCTAssertEqual(counter.withLockedValue { $0 }, 100)
    }
}
