import ISCSIProtocol
import XCTest

@testable import ISCSITarget

final class TargetAuthenticationTests: XCTestCase {
    func testInitiatorCredentialsReplaceTargetWideOnes() {
        var auth = TargetAuthentication(incoming: ["tgtuser": "tgtsecret"], outgoing: CHAPCredential(name: "t", secret: "ts"))
        auth.initiators["iqn.1994-05.com.redhat:client1"] = .init(
            incoming: CHAPCredential(name: "alice", secret: "alicesecret"), outgoing: CHAPCredential(name: "m", secret: "ms"))
        let own = auth.resolved(forInitiator: "IQN.1994-05.com.redhat:client1")
        XCTAssertEqual(own.incoming, ["alice": "alicesecret"])
        XCTAssertEqual(own.outgoing?.name, "m")
        XCTAssertTrue(own.requiresCHAP)
        let other = auth.resolved(forInitiator: "iqn.2000-01.x:other")
        XCTAssertEqual(other.incoming, ["tgtuser": "tgtsecret"])
        XCTAssertEqual(other.outgoing?.name, "t")
    }

    func testAuthenticationAttributeDecidesWhetherCHAPIsRequired() {
        var auth = TargetAuthentication()
        auth.initiators["iqn.2000-01.x:a"] = .init(incoming: CHAPCredential(name: "a", secret: "as"))
        XCTAssertTrue(auth.resolved(forInitiator: "iqn.2000-01.x:a").requiresCHAP)
        XCTAssertFalse(auth.resolved(forInitiator: "iqn.2000-01.x:b").requiresCHAP)
        auth.required = false
        let optional = auth.resolved(forInitiator: "iqn.2000-01.x:a")
        XCTAssertFalse(optional.requiresCHAP)
        XCTAssertTrue(optional.offersCHAP)
        auth.required = true
        XCTAssertTrue(auth.resolved(forInitiator: "iqn.2000-01.x:b").requiresCHAP)
    }
}
