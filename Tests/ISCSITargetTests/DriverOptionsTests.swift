import NIOCore
import XCTest

@testable import ISCSITarget

final class DriverOptionsTests: XCTestCase {
    func testPortalsAndBoundsInTgtsSyntax() throws {
        let options = try ISCSIDriverOptions(parsing: [
            "portal=127.0.0.1:3261", "portal=[::1]:3262,login_timeout=5,max_logins=40",
            "max_logins_per_address=4,cmdsn_depth=32,connection_data_budget=8,data_budget=64",
        ])
        XCTAssertEqual(options.portals.map(\.portal), [Portal(host: "127.0.0.1", port: 3261), Portal(host: "::1", port: 3262)])
        XCTAssertEqual(options.portals.map(\.tag), [1, 1])
        let c = options.configuration
        XCTAssertEqual(c.loginTimeout, .seconds(5))
        XCTAssertEqual(c.maxLoginsInProgress, 40)
        XCTAssertEqual(c.maxLoginsPerAddress, 4)
        XCTAssertEqual(c.commandWindow, 32)
        XCTAssertEqual(c.connectionDataBudget, 8 << 20)
        XCTAssertEqual(c.daemonDataBudget, 64 << 20)
    }

    func testABareNumberAfterAPortalIsItsPortalGroupTag() throws {
        let options = try ISCSIDriverOptions(parsing: ["portal=127.0.0.1:3261,2,portal=127.0.0.1:3262,nop_interval=3", "portal=[::1]:3263,7"])
        XCTAssertEqual(options.portals.map(\.portal.port), [3261, 3262, 3263])
        XCTAssertEqual(options.portals.map(\.tag), [2, 1, 7])
        XCTAssertThrowsError(try ISCSIDriverOptions(parsing: ["portal=127.0.0.1:3261,0"]))
        // A number with nothing to attach to is still a malformed option.
        XCTAssertThrowsError(try ISCSIDriverOptions(parsing: ["nop_interval=3,2"]))
    }

    func testNopCountIsTgtsWayOfSayingTheTimeout() throws {
        let options = try ISCSIDriverOptions(parsing: ["nop_interval=2,nop_count=3"])
        XCTAssertEqual(options.configuration.nopInterval, .seconds(2))
        XCTAssertEqual(options.configuration.nopTimeout, .seconds(6))
        XCTAssertNil(try ISCSIDriverOptions(parsing: ["nop_interval=0"]).configuration.nopInterval)
        XCTAssertEqual(try ISCSIDriverOptions(parsing: ["nop_timeout=9"]).configuration.nopTimeout, .seconds(9))
    }

    func testBadOptionsSayWhatIsWrong() {
        let cases: [(String, String)] = [
            ("portal=nowhere:x", "bad --iscsi portal 'nowhere:x': expected HOST:PORT"),
            ("login_timeout", "bad --iscsi option 'login_timeout': expected KEY=VALUE"),
            ("login_timeout=soon", "bad --iscsi login_timeout 'soon': expected a whole number"),
            ("login_timeout=0", "--iscsi login_timeout must be above 0"),
            ("cmdsn_depth=0", "--iscsi cmdsn_depth must be 1 to 65536"),
        ]
        for (option, message) in cases {
            XCTAssertThrowsError(try ISCSIDriverOptions(parsing: [option]), option) { error in
                XCTAssertEqual((error as? ISCSIDriverOptions.ParseError)?.description, message)
            }
        }
        XCTAssertThrowsError(try ISCSIDriverOptions(parsing: ["speed=11"])) { error in
            XCTAssertTrue("\(error)".hasPrefix("unknown --iscsi option 'speed' (known: portal=HOST:PORT"), "\(error)")
        }
    }
}
