import XCTest

final class PlaceholderISCSIInitiatorTests: XCTestCase {}
