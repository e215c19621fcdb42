import XCTest

final class PlaceholderSCSITargetTests: XCTestCase {}
