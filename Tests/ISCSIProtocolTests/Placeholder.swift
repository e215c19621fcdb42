import XCTest

final class PlaceholderISCSIProtocolTests: XCTestCase {}
