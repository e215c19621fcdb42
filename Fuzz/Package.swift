// swift-tools-version:6.0
import PackageDescription

// Coverage-guided fuzz targets (libFuzzer), one executable per target. Kept out of the main
// package so its `swift build`/`swift test` never see them; build and run them with
// `scripts/fuzz.sh`, which passes the sanitizer flags:
//   swift build -c release --sanitize fuzzer --sanitize address \
//     -Xswiftc -sanitize-coverage=edge,trace-cmp,inline-8bit-counters,pc-table -Xswiftc -enable-testing
// Each target's one source file defines `LLVMFuzzerTestOneInput`; libFuzzer supplies `main`.
let package = Package(
    name: "swift-iscsi-fuzz",
    platforms: [.macOS(.v13)],
    dependencies: [
        // The main package, through the link Fuzz/swift-iscsi -> .. : a path dependency's identity is
        // the last component of its path, so this way it is "swift-iscsi" whatever the checkout's
        // directory is called (a checkout directory named "fuzz" would collide with this package).
        .package(path: "swift-iscsi"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "FuzzSupport"),
        .executableTarget(
            name: "FuzzPDUFraming",
            dependencies: [
                "FuzzSupport", .product(name: "ISCSIProtocol", package: "swift-iscsi"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "FuzzTextNegotiation",
            dependencies: [
                "FuzzSupport", .product(name: "ISCSIProtocol", package: "swift-iscsi"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "FuzzLogin",
            dependencies: [
                "FuzzSupport", .product(name: "ISCSIProtocol", package: "swift-iscsi"),
                .product(name: "ISCSITarget", package: "swift-iscsi"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "FuzzSCSI",
            dependencies: [
                "FuzzSupport", .product(name: "SCSITarget", package: "swift-iscsi"),
                .product(name: "Backstore", package: "swift-iscsi"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "FuzzSession",
            dependencies: [
                "FuzzSupport", .product(name: "ISCSIProtocol", package: "swift-iscsi"),
                .product(name: "ISCSITarget", package: "swift-iscsi"),
                .product(name: "SCSITarget", package: "swift-iscsi"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "FuzzAdminRequest",
            dependencies: ["FuzzSupport", .product(name: "ISCSIAdmin", package: "swift-iscsi")]),
        .executableTarget(
            name: "FuzzRecord",
            dependencies: ["FuzzSupport", .product(name: "OpenISCSIConfig", package: "swift-iscsi")]),
    ],
    swiftLanguageModes: [.v5]
)
