// Fuzz target: tgtd's control-request decoder. A control-socket frame carries one AdminRequest
// as JSON, decoded by AdminWire (internal to ISCSIAdmin, reached with @testable import: the fuzz
// build passes -enable-testing); tgtadm decodes the AdminResponse that comes back; tgtd reads
// its saved configuration (tgtd-N.json) back at start as a DaemonConfiguration, which it replays
// as requests; targetcli's restoreconfig reads LIO's saveconfig.json and turns it into requests.
// The same bytes go to all four decoders.
//
// Invariants: whatever decodes encodes back to JSON that decodes to the same value; a saved
// configuration tgtd accepts (and a saveconfig) turns into requests that survive the wire the
// same way, and its pretty-printed text reads back to the same value.
import FuzzSupport
import Foundation

@testable import ISCSIAdmin

private func roundTrip<T: Codable & Equatable>(_ value: T) {
    do {
        let again = try AdminWire.decode(T.self, from: try AdminWire.encode(value))
        fuzzCheck(again == value, "\(T.self) changed on the wire: \(value) -> \(again)")
    } catch {
        fuzzCheck(false, "\(T.self) \(value) does not survive the wire: \(error)")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAdminRequest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let request = try? AdminWire.decode(AdminRequest.self, from: bytes) {
        roundTrip(request)
    }
    if let response = try? AdminWire.decode(AdminResponse.self, from: bytes) {
        roundTrip(response)
    }
    // As ConfigurationStore.load reads the state file.
    if let configuration = try? JSONDecoder().decode(DaemonConfiguration.self, from: Data(bytes)),
        configuration.loadProblem == nil
    {
        for request in configuration.replayRequests() { roundTrip(request) }
        do {
            let text = try configuration.jsonText()
            let again = try DaemonConfiguration(jsonText: text)
            fuzzCheck(again == configuration, "configuration changed through its JSON text")
        } catch {
            fuzzCheck(false, "configuration does not survive its JSON text: \(error)")
        }
    }
    // As targetcli's restoreconfig reads a saveconfig.json.
    if let saved = try? LIOSaveConfig(jsonText: String(decoding: bytes, as: UTF8.self)) {
        let (steps, _) = saved.restoreSteps(existingPortals: [])
        for step in steps { roundTrip(step.request) }
        do {
            let again = try LIOSaveConfig(jsonText: try saved.jsonText())
            fuzzCheck(again == saved, "saveconfig changed through its JSON text")
        } catch {
            fuzzCheck(false, "saveconfig does not survive its JSON text: \(error)")
        }
    }
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

private func seeds() -> [[UInt8]] {
    let requests = [
        AdminRequest(lld: "iscsi", mode: .target, op: .new, tid: 1, targetName: "iqn.2026-11.org.example:disk1"),
        AdminRequest(mode: .logicalUnit, op: .new, tid: 1, lun: 1, backingStore: "/dev/shm/disk1.img", bsType: "rdwr",
                     bsOFlags: "sync:direct", blockSize: "4096", params: "thin_provisioning=1,readonly=0"),
        AdminRequest(mode: .target, op: .bind, tid: 1, initiatorAddress: "192.168.0.0/24"),
        AdminRequest(mode: .account, op: .new, user: "christina", password: "123456secret"),
        AdminRequest(mode: .account, op: .bind, tid: 1, user: "tgtout", outgoing: true),
        AdminRequest(mode: .target, op: .delete, tid: 1, force: true),
        AdminRequest(mode: .system, op: .update, name: "State", value: "offline"),
        AdminRequest(mode: .storageObject, op: .new, bsType: "ramdisk", storageObject: "ram1", size: 1 << 30),
        AdminRequest(mode: .nodeACL, op: .update, tid: 2, initiatorName: "iqn.2026-11.org.example:client",
                     user: "u", password: "secret12345", mutualUser: "", mutualPassword: "m"),
        AdminRequest(mode: .target, op: .new, targetName: "iqn.2003-01.org.linux-iscsi.h.x8664:sn.0123456789ab",
                     allocateTID: true),
        AdminRequest(mode: .portal, op: .new, params: "portal=[::1]:3260"),
        AdminRequest(mode: .session, op: .show, tid: 1, sid: 2, cid: 0),
    ]
    var configuration = DaemonConfiguration()
    configuration.portals = [PortalConfiguration(host: "127.0.0.1", port: 3260), PortalConfiguration(host: "::1", port: 3261)]
    configuration.discoveryIncomingUsers = ["disc"]
    configuration.discoveryOutgoingUser = "discout"
    configuration.accounts = [AccountConfiguration(user: "disc", password: "discsecret12")]
    configuration.storageObjects = [
        StorageObjectConfiguration(name: "ram1", kind: .ramdisk, size: 1 << 20),
        StorageObjectConfiguration(name: "file1", kind: .fileio, path: "/srv/f.img", size: 4096, readOnly: true,
                                   writeCache: false, serial: "abc", bsType: "rdwr", openFlags: "sync"),
    ]
    var target = TargetConfiguration(tid: 1, name: "iqn.2026-11.org.example:disk1")
    target.luns = [LUNConfiguration(lun: 1, storageObject: "ram1", blockSize: 4096, parameters: ["thin_provisioning=1"])]
    target.access = [
        .address("ALL"), .address("10.0.0.0/8"),
        .initiatorName("iqn.2026-11.org.example:client", auth: CHAPCredentials(userID: "u", password: "p")),
    ]
    target.incomingUsers = ["disc"]
    target.authentication = true
    configuration.targets = [target]

    var seeds = requests.map { try! AdminWire.encode($0) }
    seeds.append(try! AdminWire.encode(AdminResponse(exitCode: 22, message: "invalid request", output: "Target 1: x\n")))
    seeds.append(Array(try! configuration.jsonText().utf8))
    seeds.append(Array(try! LIOSaveConfig(configuration).jsonText().utf8))
    return seeds
}
