import NIOCore
import NIOPosix
import XCTest

@testable import Backstore

final class BackstoreFactoryTests: XCTestCase {
    private var pool: BlockIOExecutor!
    private var directory: TemporaryDirectory!

    override func setUpWithError() throws {
        pool = BackstoreIOPool.makeStarted(numberOfThreads: 1)
        directory = try TemporaryDirectory()
    }

    override func tearDownWithError() throws {
        pool.shutdown()
    }

    func testFileTypesOpenAFileBackstoreKeepingTheRequestedName() throws {
        let path = try directory.makeFile("f.img", size: 8192)
        for (type, shown) in [("rdwr", "rdwr"), ("aio", "aio"), ("", "rdwr")] {
            let store = try BackstoreFactory.open(path: path, type: type, size: nil, readOnly: false, ioPool: pool)
            XCTAssertTrue(store is FileBackstore)
            XCTAssertEqual(store.typeName, shown)
            XCTAssertEqual(store.byteSize, 8192)
            try store.close()
        }
    }

    func testReadOnlyFlagReachesTheFileStore() throws {
        let path = try directory.makeFile("ro.img", size: 4096)
        let store = try BackstoreFactory.open(path: path, type: "rdwr", size: nil, readOnly: true, ioPool: pool)
        XCTAssertEqual((store as? FileBackstore)?.isReadOnly, true)
        try store.close()
    }

    func testNullAndRamStores() throws {
        let null = try BackstoreFactory.open(path: "/dev/null", type: "null", size: nil, readOnly: false, ioPool: pool)
        XCTAssertTrue(null is NullBackstore)
        XCTAssertEqual(null.byteSize, NullBackstore.defaultSize)
        XCTAssertEqual(null.path, "/dev/null")
        let sizedNull = try BackstoreFactory.open(path: nil, type: "null", size: 4096, readOnly: false, ioPool: pool)
        XCTAssertEqual(sizedNull.byteSize, 4096)
        let ram = try BackstoreFactory.open(path: nil, type: "ram", size: 1 << 20, readOnly: false, ioPool: pool)
        XCTAssertTrue(ram is MemoryBackstore)
        XCTAssertEqual(ram.byteSize, 1 << 20)
        try ram.close()
    }

    func testInvalidRequestsFail() {
        assertBackstoreError(try BackstoreFactory.open(path: nil, type: "ram", size: nil, readOnly: false, ioPool: pool), kind: .invalidArgument)
        assertBackstoreError(try BackstoreFactory.open(path: "/dev/null", type: "sheepdog", size: nil, readOnly: false, ioPool: pool), kind: .invalidArgument)
        assertBackstoreError(try BackstoreFactory.open(path: nil, type: "rdwr", size: nil, readOnly: false, ioPool: pool), kind: .invalidArgument)
        assertBackstoreError(
            try BackstoreFactory.open(path: directory.path + "/none", type: "rdwr", size: nil, readOnly: false, ioPool: pool), kind: .notFound)
    }
}
