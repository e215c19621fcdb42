#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SystemSupport

/// Where a line of a targets.conf came from.
public struct TargetsConfLocation: Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    public var description: String { "\(file):\(line)" }
}

/// A targets.conf that cannot be applied: `description` is the one line tgt-admin prints.
public struct TargetsConfError: Error, Equatable, Sendable, CustomStringConvertible {
    public var location: TargetsConfLocation?
    public var message: String

    public init(_ message: String, at location: TargetsConfLocation? = nil) {
        self.message = message
        self.location = location
    }

    public var description: String {
        location.map { "\($0): \(message)" } ?? message
    }
}

/// One element of a parsed configuration file, before its meaning is checked.
public indirect enum TargetsConfNode: Equatable, Sendable {
    /// `key value` (or `key = value`); a key on its own has no value.
    case option(key: String, value: String?, at: TargetsConfLocation)
    /// `<kind name> ... </kind>`.
    case block(kind: String, name: String?, children: [TargetsConfNode], at: TargetsConfLocation)
}

/// Reads targets.conf the way tgt-admin's Config::General (with UseApacheInclude, IncludeGlob,
/// IncludeDirectories) does: `#` comments (`\#` is a literal #), C comments, lines continued with a
/// trailing backslash, here-documents, double-quoted values and block names, `include FILE|DIR|GLOB`
/// (relative to the current directory) and `includeoptional`. Block nesting is checked strictly:
/// every `<kind ...>` needs a matching `</kind>`.
public struct TargetsConfSyntax {
    /// A logical line: its text and where it starts.
    struct Line {
        var text: String
        var location: TargetsConfLocation
    }

    /// Reads a file's bytes; nil when it cannot be read. Tests substitute an in-memory file system.
    public typealias FileReader = (String) -> String?

    private let fileSystem: TargetsConfFileSystem
    private var loaded: Set<String> = []
    private var lines: [Line] = []

    init(fileSystem: TargetsConfFileSystem) {
        self.fileSystem = fileSystem
    }

    /// Parses `path` and everything it includes.
    public static func parse(file path: String, fileSystem: TargetsConfFileSystem = .live) throws -> [TargetsConfNode] {
        var syntax = TargetsConfSyntax(fileSystem: fileSystem)
        try syntax.open(path, optional: false, from: nil)
        return try syntax.structure()
    }

    /// Parses configuration text (includes are resolved through `fileSystem`).
    public static func parse(
        text: String, name: String = "targets.conf", fileSystem: TargetsConfFileSystem = .live
    ) throws -> [TargetsConfNode] {
        var syntax = TargetsConfSyntax(fileSystem: fileSystem)
        syntax.loaded.insert(name)
        try syntax.read(text, file: name)
        return try syntax.structure()
    }

    // MARK: Reading files and includes

    private mutating func open(_ path: String, optional: Bool, from location: TargetsConfLocation?) throws {
        if path.contains(where: { "*?[{\\".contains($0) }) {
            // A glob: every regular file it matches, none being fine.
            for match in fileSystem.glob(path) where fileSystem.kind(match) == .file {
                try open(match, optional: true, from: location)
            }
            return
        }
        switch fileSystem.kind(path) {
        case nil:
            if optional { return }
            throw TargetsConfError("include: \(path) does not exist", at: location)
        case .directory?:
            for entry in fileSystem.list(path).sorted(by: Self.byteOrder) {
                let file = path.hasSuffix("/") ? path + entry : path + "/" + entry
                if fileSystem.kind(file) == .file { try load(file, from: location) }
            }
        case .file?:
            try load(path, from: location)
        }
    }

    private mutating func load(_ path: String, from location: TargetsConfLocation?) throws {
        // Config::General reads a file once; including it again (or itself) is skipped.
        guard loaded.insert(path).inserted else { return }
        guard let text = fileSystem.read(path) else {
            throw TargetsConfError("cannot read \(path)", at: location)
        }
        try read(text, file: path)
    }

    private mutating func read(_ text: String, file: String) throws {
        var continued: (text: String, location: TargetsConfLocation)?
        var hereDocument: (key: String, end: String, body: [String], location: TargetsConfLocation)?
        var inCComment = false
        let physicalLines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in physicalLines.enumerated() {
            if index == physicalLines.count - 1 && raw.isEmpty { break }
            let location = TargetsConfLocation(file: file, line: index + 1)
            var line = String(raw.hasSuffix("\r") ? raw.dropLast() : raw)

            if var document = hereDocument {
                if line.confTrimmed() == document.end {
                    lines.append(Line(text: document.key + " " + document.body.joined(separator: "\n"), location: document.location))
                    hereDocument = nil
                } else {
                    document.body.append(line)
                    hereDocument = document
                }
                continue
            }

            // C comments: /* ... */ on one line, or spanning lines.
            if let start = line.firstRange(of: "/*"), let end = line[start.upperBound...].firstRange(of: "*/") {
                line.removeSubrange(start.lowerBound..<end.upperBound)
            } else if line.confTrimmed().hasPrefix("/*") {
                inCComment = !line.confHasTrimmedSuffix("*/")
                continue
            } else if inCComment {
                guard let end = line.firstRange(of: "*/") else { continue }
                inCComment = false
                line = String(line[end.upperBound...])
            }

            line = Self.removingComment(line)

            // A trailing (unescaped) backslash continues the line.
            if line.hasSuffix("\\") && !line.hasSuffix("\\\\") {
                let part = String(line.dropLast()).confDroppingLeadingBlanks()
                if continued == nil { continued = ("", location) }
                continued!.text += part
                continue
            }

            if let start = Self.hereDocumentStart(line) {
                hereDocument = (start.key, start.end, [], location)
                continue
            }

            if let pending = continued {
                lines.append(Line(text: pending.text + line.confDroppingLeadingBlanks(), location: pending.location))
                continued = nil
                continue
            }
            if line.confTrimmed().isEmpty { continue }

            if let include = Self.include(line) {
                try open(include.path, optional: include.optional, from: location)
                continue
            }
            lines.append(Line(text: line, location: location))
        }
        if let pending = continued { lines.append(Line(text: pending.text, location: pending.location)) }
        if let document = hereDocument {
            throw TargetsConfError("here-document \"\(document.end)\" is not terminated", at: document.location)
        }
    }

    /// Drops a `#` comment (not one written `\#`).
    static func removingComment(_ line: String) -> String {
        var previous: Character?
        for index in line.indices {
            if line[index] == "#" && previous != "\\" { return String(line[..<index]) }
            previous = line[index]
        }
        return line
    }

    /// `key <<END` or `key = <<END`.
    static func hereDocumentStart(_ line: String) -> (key: String, end: String)? {
        guard let marker = line.firstRange(of: "<<") else { return nil }
        var key = line[..<marker.lowerBound].confTrimmed()
        let end = line[marker.upperBound...].confTrimmed()
        if key.hasSuffix("=") { key = String(key.dropLast()).confTrimmed() }
        guard !key.isEmpty, !end.isEmpty, !key.contains(where: \.isConfBlank), !key.hasPrefix("<") else { return nil }
        return (key, end)
    }

    /// `include PATH`, `include "PATH"`, `includeoptional PATH` (any case).
    static func include(_ line: String) -> (path: String, optional: Bool)? {
        let text = line.confTrimmed()
        let word = text.prefix { !$0.isConfBlank && $0 != "\"" && $0 != "'" }
        let keyword = word.lowercased()
        guard keyword == "include" || keyword == "includeoptional" else { return nil }
        var rest = text[word.endIndex...].confTrimmed()
        guard !rest.isEmpty, rest.count < text.count else { return nil }
        if let quote = rest.first, quote == "\"" || quote == "'", rest.count >= 2, rest.last == quote {
            rest = String(rest.dropFirst().dropLast())
        }
        return (rest, keyword == "includeoptional")
    }

    // MARK: Structure

    private func structure() throws -> [TargetsConfNode] {
        var stack: [(kind: String, name: String?, children: [TargetsConfNode], at: TargetsConfLocation)] = []
        var top: [TargetsConfNode] = []
        for line in lines {
            let text = line.text.confTrimmed()
            if text.hasPrefix("</") && text.hasSuffix(">") {
                let kind = String(text.dropFirst(2).dropLast()).confTrimmed()
                guard let open = stack.popLast() else {
                    throw TargetsConfError("</\(kind)> without an opening <\(kind)>", at: line.location)
                }
                guard open.kind == kind else {
                    throw TargetsConfError("</\(kind)> closes <\(open.kind)> opened at line \(open.at.line)", at: line.location)
                }
                let node = TargetsConfNode.block(kind: open.kind, name: open.name, children: open.children, at: open.at)
                if stack.isEmpty { top.append(node) } else { stack[stack.count - 1].children.append(node) }
            } else if text.hasPrefix("<") && text.hasSuffix(">") && text.count > 2 {
                let (kind, name) = Self.blockHeader(String(text.dropFirst().dropLast()))
                stack.append((kind, name, [], line.location))
            } else {
                let (key, value) = Self.splitOption(text)
                let node = TargetsConfNode.option(key: key, value: value, at: line.location)
                if stack.isEmpty { top.append(node) } else { stack[stack.count - 1].children.append(node) }
            }
        }
        if let open = stack.last {
            throw TargetsConfError("<\(open.kind)> has no closing </\(open.kind)>", at: open.at)
        }
        return top
    }

    /// `kind name`, `"kind"`, `kind "name"`: the block's kind and its name, unquoted.
    static func blockHeader(_ header: String) -> (String, String?) {
        let text = header.confTrimmed()
        if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\""), !text.dropFirst().dropLast().contains("\"") {
            return (String(text.dropFirst().dropLast()), nil)
        }
        guard let blank = text.firstIndex(where: \.isConfBlank) else { return (unquoted(text), nil) }
        let kind = unquoted(String(text[..<blank]))
        let name = text[blank...].confTrimmed()
        return (kind, name.isEmpty ? nil : unquoted(name))
    }

    /// Config::General's split: at the first `\s*=\s*` or run of blanks; a value in double quotes
    /// loses them; `\#` becomes `#`.
    static func splitOption(_ text: String) -> (String, String?) {
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            var next = index
            while next < characters.count && characters[next].isConfBlank { next += 1 }
            if next < characters.count && characters[next] == "=" {
                var valueStart = next + 1
                while valueStart < characters.count && characters[valueStart].isConfBlank { valueStart += 1 }
                return (String(characters[..<index]), value(String(characters[valueStart...])))
            }
            if next > index {
                return (String(characters[..<index]), value(String(characters[next...])))
            }
            index += 1
        }
        return (text, nil)
    }

    private static func value(_ raw: String) -> String? {
        var text = raw
        if text.hasPrefix("\"") && text.hasSuffix("\"") && !text.isEmpty {
            text = String(text.dropFirst())
            if text.hasSuffix("\"") { text = String(text.dropLast()) }
        }
        return text.replacing("\\#", with: "#")
    }

    private static func unquoted(_ text: String) -> String {
        if text.count >= 2 && text.hasPrefix("\"") && text.hasSuffix("\"") { return String(text.dropFirst().dropLast()) }
        return text
    }

    /// Perl's `sort`: byte order.
    static func byteOrder(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }
}

/// The file system as the configuration reader sees it.
public struct TargetsConfFileSystem: Sendable {
    public enum Kind: Sendable { case file, directory }

    public var kind: @Sendable (String) -> Kind?
    public var read: @Sendable (String) -> String?
    public var list: @Sendable (String) -> [String]
    public var glob: @Sendable (String) -> [String]

    public init(
        kind: @escaping @Sendable (String) -> Kind?, read: @escaping @Sendable (String) -> String?,
        list: @escaping @Sendable (String) -> [String], glob: @escaping @Sendable (String) -> [String]
    ) {
        self.kind = kind
        self.read = read
        self.list = list
        self.glob = glob
    }

    /// The real file system.
    public static let live = TargetsConfFileSystem(
        kind: { path in
            var info = stat()
            guard stat(path, &info) == 0 else { return nil }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: return .directory
            case S_IFREG: return .file
            default: return .file  // devices, fifos: Config::General reads them as files
            }
        },
        read: { path in SmallFile.contents(of: path) },
        list: { path in TgtAdminFiles.listDirectory(path) },
        glob: { pattern in TgtAdminFiles.globPaths(pattern) })
}

/// Small libc helpers shared by tgt-admin's pieces.
enum TgtAdminFiles {
    static func listDirectory(_ path: String) -> [String] {
        guard let directory = opendir(path) else { return [] }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func globPaths(_ pattern: String) -> [String] {
        var result = glob_t()
        defer { globfree(&result) }
        guard glob(pattern, GLOB_BRACE, nil, &result) == 0 else { return [] }
        return (0..<Int(result.gl_pathc)).compactMap { result.gl_pathv[$0].map { String(cString: $0) } }
    }
}

extension Character {
    var isConfBlank: Bool { self == " " || self == "\t" || self == "\r" || self == "\u{0B}" || self == "\u{0C}" }
}

extension StringProtocol {
    func confTrimmed() -> String {
        guard let first = firstIndex(where: { !$0.isConfBlank }) else { return "" }
        let last = lastIndex(where: { !$0.isConfBlank })!
        return String(self[first...last])
    }

    func confDroppingLeadingBlanks() -> String {
        String(drop(while: \.isConfBlank))
    }

    func confHasTrimmedSuffix(_ suffix: String) -> Bool {
        confTrimmed().hasSuffix(suffix)
    }
}
