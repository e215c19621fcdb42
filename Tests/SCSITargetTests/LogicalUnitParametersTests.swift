import XCTest

@testable import SCSITarget

/// tgt's `--params` for logical units, read as tgtd reads them (answers measured against
/// Debian's tgtd 1.0.85: which requests fail, which keys still take effect).
final class LogicalUnitParametersTests: XCTestCase {
    private func parse(_ text: String, over options: LogicalUnitOptions = .init(), blockSize: Int = 512)
        -> LogicalUnitParameters
    {
        LogicalUnitParameters(parsing: text, over: options, blockSize: blockSize)
    }

    func testFlagsAndStrings() {
        let parsed = parse(
            "thin_provisioning=1,readonly=1,removable=1,vendor_id=ACME,product_id=PROD,product_rev=9999,"
                + "scsi_id=myid,scsi_sn=mysn")
        XCTAssertEqual(parsed.steps, [])
        XCTAssertEqual(
            parsed.options,
            LogicalUnitOptions(
                readOnly: true, removable: true, vendor: "ACME", product: "PROD", revision: "9999", serialNumber: "mysn",
                scsiID: "myid", thinProvisioning: true))
        XCTAssertEqual(parse("readonly=0", over: parsed.options).options.readOnly, false)
    }

    /// tgt-admin's `write-cache off` sends the caching page with WCE clear; that bit is applied,
    /// and any other page is still "not supported".
    func testCachingModePageSetsTheWriteCache() {
        let off = parse("mode_page=8:0:18:0x10:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0")
        XCTAssertEqual(off.steps, [])
        XCTAssertEqual(off.options.writeCache, false)
        let on = parse("mode_page=8:0:18:0x14:0:0xff:0xff:0:0:0xff:0xff:0xff:0xff:0x80:0x14:0:0:0:0:0:0", over: off.options)
        XCTAssertEqual(on.options.writeCache, true)
        XCTAssertEqual(parse("mode_page=0x0a:0:10:2:0:0:0:0:0:0:0:0:0").steps, [.unsupported("mode_page=0x0a:0:10:2:0:0:0:0:0:0:0:0:0")])
        XCTAssertEqual(parse("mode_page=8:0:3:0x10").steps, [.unsupported("mode_page=8:0:3:0x10")], "the length must match")
    }

    func testNumbersAreReadLikeAtoiAndCutToTgtsWidths() {
        // tgt keeps the flags in a char: 256 is 0, 257 is 1; text is 0; a sign is read.
        XCTAssertFalse(parse("removable=256").options.removable)
        XCTAssertTrue(parse("removable=257").options.removable)
        XCTAssertFalse(parse("readonly=abc").options.readOnly)
        XCTAssertTrue(parse("readonly= -1x").options.readOnly)
        XCTAssertTrue(parse("thin_provisioning=2").options.thinProvisioning)
        XCTAssertEqual(parse("rotation_rate=7200").options.rotationRate, 7200)
        XCTAssertEqual(parse("rotation_rate=65537").options.rotationRate, 1)
        XCTAssertEqual(parse("optimal_xfer_len=-1").options.optimalTransferLength, 0xFFFF_FFFF)
        XCTAssertEqual(parse("optimal_xfer_gran=8").options.optimalTransferLengthGranularity, 8)
        XCTAssertEqual(parse("la_lba=3").options.lowestAlignedLBA, 3)
        XCTAssertEqual(parse("lbppbe=3").options.physicalBlockSize, 4096)
        XCTAssertEqual(parse("lbppbe=0", blockSize: 4096).options.physicalBlockSize, 4096)
        XCTAssertEqual(LogicalUnitParameters.atoi("99999999999999999999999"), -1, "strtol saturates, then int cuts")
        XCTAssertEqual(LogicalUnitParameters.atoi("-99999999999999999999999"), 0)
        XCTAssertEqual(LogicalUnitParameters.atoi("\t+42abc"), 42)
        XCTAssertEqual(LogicalUnitParameters.atoi(""), 0)
    }

    func testStringsAreCutToInquiryFieldSizes() {
        let parsed = parse("vendor_id=ABCDEFGHIJ,product_id=0123456789abcdefXYZ,product_rev=12345,scsi_sn=" + String(repeating: "s", count: 40))
        XCTAssertEqual(parsed.options.vendor, "ABCDEFGH")
        XCTAssertEqual(parsed.options.product, "0123456789abcdef")
        XCTAssertEqual(parsed.options.revision, "1234")
        XCTAssertEqual(parsed.options.serialNumber, String(repeating: "s", count: 36))
        XCTAssertEqual(parse("scsi_id=a=b").options.scsiID, "a=b", "the value runs to the next comma")
    }

    func testUnknownKeysFailButTheOthersStillApply() {
        // tgtd: "foo=1,readonly=1" answers invalid request and the unit is read-only anyway.
        let parsed = parse("foo=1,readonly=1")
        XCTAssertEqual(parsed.steps, [.invalid("foo=1")])
        XCTAssertTrue(parsed.options.readOnly)
        XCTAssertEqual(parse("readonly=").steps, [.invalid("readonly=")], "a value is required")
        XCTAssertEqual(parse("READONLY=1").steps, [.invalid("READONLY=1")], "keys are case sensitive")
        XCTAssertEqual(parse("readonly").steps, [.invalid("readonly")])
        XCTAssertEqual(parse("bsoflags=sync").steps, [.invalid("bsoflags=sync")])
        // Known to tgt, not possible here.
        XCTAssertEqual(parse("mode_page=8:0:18,path=/x").steps, [.unsupported("mode_page=8:0:18"), .unsupported("path=/x")])
        XCTAssertEqual(parse("sense_format=1").steps, [.unsupported("sense_format=1")])
        XCTAssertEqual(parse("sense_format=0").steps, [])
        // online= is a step of its own, in order, so a later success can clear an earlier error.
        XCTAssertEqual(parse("foo=1,online=0,online=1").steps, [.invalid("foo=1"), .online(false), .online(true)])
        XCTAssertEqual(parse("online=256").steps, [.online(true)], "online is an int in tgt, not a char")
        XCTAssertEqual(parse("").steps, [])
        XCTAssertEqual(parse(",,").steps, [])
    }

    func testTgtadmsTargetOpsPrefixIsSkipped() {
        XCTAssertTrue(parse("targetOps readonly=1,").options.readOnly)
        // Anywhere else it is part of the key, as in tgtd (--bsoflags comes first on the wire).
        let parsed = parse("bsoflags=sync,targetOps readonly=1,thin_provisioning=1,")
        XCTAssertEqual(parsed.steps, [.invalid("bsoflags=sync"), .invalid("targetOps readonly=1")])
        XCTAssertFalse(parsed.options.readOnly)
        XCTAssertTrue(parsed.options.thinProvisioning)
    }
}
