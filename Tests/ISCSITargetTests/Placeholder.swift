import XCTest

final class PlaceholderISCSITargetTests: XCTestCase {}
