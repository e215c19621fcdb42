// Fuzz target: iscsiadm's record parser (Record.parse over KeyValueText), as ConfigStore reads
// node, iface and discovery records from open-iscsi's layout (bytes decoded as UTF-8, invalid
// sequences replaced, as AtomicFile.read does).
//
// Input: byte 0 picks the record kind (node, iface, sendTargets), the rest is the file's text.
//
// Invariants: every parsed pair has a non-empty key, neither side has line breaks or leading or
// trailing white space; parse → showText(showPasswords:) → parse gives the same record, and
// parse → fileText → parse too but for empty values, which the file leaves out (as open-iscsi's
// does) and so read back as the schema's defaults, after which the record is a fixed point.
import FuzzSupport
import Foundation
import OpenISCSIConfig

private func difference(_ a: Record, _ b: Record) -> String {
    a.keys.filter { a.values[$0] != b.values[$0] }
        .map { "\($0): \(String(reflecting: a.values[$0])) became \(String(reflecting: b.values[$0]))" }
        .joined(separator: "; ")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzRecord(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let kind: Record.Kind = [.node, .iface, .sendTargets][Int(input.byte() % 3)]
    let text = String(decoding: input.rest(), as: UTF8.self)

    for (key, value) in KeyValueText.parse(text) {
        fuzzCheck(!key.isEmpty, "an empty key")
        for part in [key, value] {
            fuzzCheck(!part.unicodeScalars.contains { $0 == "\n" || $0 == "\r" }, "a line break in \(part.debugDescription)")
            fuzzCheck(part.trimmingCharacters(in: .whitespaces) == part, "white space around \(part.debugDescription)")
        }
    }
    let record = Record.parse(text, kind: kind)
    let file = record.fileText()
    let fromFile = Record.parse(file, kind: kind)
    // The file leaves empty values out, as open-iscsi's does, so they read back as the defaults.
    var expected = record
    let defaults = Record(kind: kind)
    for key in record.keys where record.values[key] == "" { expected.set(key, defaults.values[key] ?? "") }
    fuzzCheck(fromFile == expected, "parse → fileText → parse changed the record: \(difference(expected, fromFile))")
    let again = Record.parse(fromFile.fileText(), kind: kind)
    fuzzCheck(again == fromFile, "a record read back from its file changes again: \(difference(fromFile, again))")
    let shown = record.showText(showPasswords: true)
    let fromShown = Record.parse(shown, kind: kind)
    fuzzCheck(fromShown == record, "parse → showText → parse changed the record: \(difference(record, fromShown))")
    return 0
}

@_cdecl("LLVMFuzzerInitialize")
public func initialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    writeSeedsIfRequested(seeds)
    return 0
}

private func seeds() -> [[UInt8]] {
    var node = Record(kind: .node)
    node.set("node.name", "iqn.2026-11.org.example:disk1")
    node.set("node.conn[0].address", "127.0.0.1")
    node.set("node.session.auth.authmethod", "CHAP")
    node.set("node.session.auth.username", "christina")
    node.set("node.session.auth.password", "123456secret")
    node.set("node.startup", "automatic")
    var iface = Record(kind: .iface)
    iface.set("iface.iscsi_ifacename", "default")
    iface.set("iface.transport_name", "tcp")
    let sendTargets = Record(kind: .sendTargets)
    return [
        [0] + Array(node.fileText().utf8),
        [0] + Array(node.showText().utf8),
        [1] + Array(iface.fileText().utf8),
        [2] + Array(sendTargets.showText(showPasswords: true).utf8),
        [0] + Array("# comment\n  node.name =  iqn.x:y  \r\nnode.tpgt=1\nbogus = 2\n= x\nnode.session.auth.password = <empty>\n".utf8),
    ]
}
