/// Prometheus's text exposition format (version 0.0.4), written by hand: the daemons' counters
/// are plain integers read at scrape time, so a metrics library's own counter objects would only
/// be copies of them.
public struct PrometheusText: Sendable {
    public private(set) var text = ""

    public init() {}

    public typealias Labels = [(String, String)]

    /// `# HELP` and `# TYPE` lines, then one sample per label set.
    public mutating func family(_ name: String, type: String, help: String, samples: [(Labels, UInt64)]) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type)\n"
        for (labels, value) in samples { sample(name, labels, String(value)) }
    }

    public mutating func counter(_ name: String, help: String, _ samples: [(Labels, UInt64)]) {
        family(name, type: "counter", help: help, samples: samples)
    }

    public mutating func gauge(_ name: String, help: String, _ samples: [(Labels, UInt64)]) {
        family(name, type: "gauge", help: help, samples: samples)
    }

    /// A histogram in seconds from per-bucket counts (not cumulative; the last one is +Inf),
    /// bucket bounds in nanoseconds, and the sum in nanoseconds.
    public struct Histogram: Sendable {
        public var labels: Labels
        public var buckets: [UInt64]
        public var sumNanoseconds: UInt64

        public init(labels: Labels, buckets: [UInt64], sumNanoseconds: UInt64) {
            self.labels = labels
            self.buckets = buckets
            self.sumNanoseconds = sumNanoseconds
        }
    }

    public mutating func histogram(_ name: String, help: String, boundsNanoseconds: [UInt64], _ series: [Histogram]) {
        text += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) histogram\n"
        for h in series {
            var cumulative: UInt64 = 0
            for (i, count) in h.buckets.enumerated() {
                cumulative &+= count
                let le = i < boundsNanoseconds.count ? Self.seconds(boundsNanoseconds[i]) : "+Inf"
                sample(name + "_bucket", h.labels + [("le", le)], String(cumulative))
            }
            sample(name + "_sum", h.labels, Self.seconds(h.sumNanoseconds))
            sample(name + "_count", h.labels, String(cumulative))
        }
    }

    private mutating func sample(_ name: String, _ labels: Labels, _ value: String) {
        text += name
        if !labels.isEmpty {
            text += "{" + labels.map { "\($0.0)=\"\(Self.escapeLabel($0.1))\"" }.joined(separator: ",") + "}"
        }
        text += " \(value)\n"
    }

    /// Nanoseconds as decimal seconds, exactly ("0.00005", "1", "2.5").
    static func seconds(_ nanoseconds: UInt64) -> String {
        let whole = nanoseconds / 1_000_000_000
        var fraction = String(nanoseconds % 1_000_000_000)
        if fraction == "0" { return String(whole) }
        fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(whole).\(fraction)"
    }

    static func escapeLabel(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }

    static func escapeHelp(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
