import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address, and whether it is one a request from Countersign may reach.
public struct NetworkAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address in network byte order: 4 bytes (IPv4) or 16 (IPv6).
    public let bytes: [UInt8]

    /// An address from its bytes.
    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// An address from its textual form (`192.0.2.1`, `2001:db8::1`); `nil` for anything else.
    public init?(literal: String) {
        var v4 = in_addr()
        if inet_pton(AF_INET, literal, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, literal, &v6) == 1 {
            bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        var copy = bytes
        let family = bytes.count == 4 ? AF_INET : AF_INET6
        guard inet_ntop(family, &copy, &buffer, socklen_t(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible IPv6 address.
    var embeddedIPv4: NetworkAddress? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }) else { return nil }
        if bytes[10] == 0xFF && bytes[11] == 0xFF { return NetworkAddress(bytes: Array(bytes[12...])) }
        if bytes[10] == 0 && bytes[11] == 0 && bytes[12..<16].contains(where: { $0 != 0 }) && !isLoopbackV6 {
            return NetworkAddress(bytes: Array(bytes[12...]))
        }
        return nil
    }

    private var isLoopbackV6: Bool { bytes.count == 16 && bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1 }

    /// Why the address is not on the public internet, or `nil` when it is: loopback, private,
    /// link-local (cloud metadata services live there), shared (CGNAT), unspecified, multicast,
    /// reserved or documentation ranges.
    public var nonPublicReason: String? {
        if let inner = embeddedIPv4 { return inner.nonPublicReason.map { "\($0) (embedded in IPv6)" } }
        if bytes.count == 4 {
            let (a, b) = (bytes[0], bytes[1])
            switch true {
            case a == 0: return "an unspecified or \"this network\" address"
            case a == 127: return "a loopback address"
            case a == 10, a == 172 && (16...31).contains(b), a == 192 && b == 168: return "a private address"
            case a == 169 && b == 254: return "a link-local address (where cloud metadata services answer)"
            case a == 100 && (64...127).contains(b): return "a shared (carrier-grade NAT) address"
            case a == 192 && b == 0 && bytes[2] == 0: return "an IETF protocol address"
            case a == 192 && b == 0 && bytes[2] == 2, a == 198 && b == 51 && bytes[2] == 100,
                a == 203 && b == 0 && bytes[2] == 113:
                return "a documentation address"
            case a == 198 && (b == 18 || b == 19): return "a benchmarking address"
            case a >= 224: return "a multicast or reserved address"
            default: return nil
            }
        }
        if bytes.allSatisfy({ $0 == 0 }) { return "the unspecified address" }
        if isLoopbackV6 { return "a loopback address" }
        if bytes[0] & 0xFE == 0xFC { return "a unique local (private) address" }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0x80 { return "a link-local address" }
        if bytes[0] == 0xFE && bytes[1] & 0xC0 == 0xC0 { return "a site-local address" }
        if bytes[0] == 0xFF { return "a multicast address" }
        if bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0x0D && bytes[3] == 0xB8 {
            return "a documentation address"
        }
        if bytes[0] == 0x00 && bytes[1] == 0x64 && bytes[2] == 0xFF && bytes[3] == 0x9B {
            return "a NAT64 address, which can reach private IPv4 addresses"
        }
        if bytes[0] == 0x20 && bytes[1] == 0x02 { return "a 6to4 address, which can reach private IPv4 addresses" }
        return nil
    }

    /// Every address a host name resolves to (blocking; call it off the cooperative pool).
    static func resolve(_ host: String) -> [NetworkAddress]? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(first) }
        var addresses: [NetworkAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let socketAddress = entry.pointee.ai_addr {
                switch Int32(socketAddress.pointee.sa_family) {
                case AF_INET:
                    socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        var address = pointer.pointee.sin_addr
                        addresses.append(NetworkAddress(bytes: withUnsafeBytes(of: &address) { Array($0) })!)
                    }
                case AF_INET6:
                    socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        var address = pointer.pointee.sin6_addr
                        addresses.append(NetworkAddress(bytes: withUnsafeBytes(of: &address) { Array($0) })!)
                    }
                default: break
                }
            }
            cursor = entry.pointee.ai_next
        }
        var seen = Set<NetworkAddress>()
        return addresses.filter { seen.insert($0).inserted }
    }
}
