import Countersign
import CountersignStore
import Foundation
import GRDB
import Testing

@Suite("User store conformance")
struct UserStoreTests {
    let now = Date(timeIntervalSince1970: 1_900_000_000)
    static let passwordHash = Password.hash(Secret("correct horse battery staple"), cost: 4)

    func add(_ email: String, to store: any UserStore) async throws {
        try await store.createUser(
            User(email: email, role: .approver, passwordHash: Self.passwordHash, createdAt: now),
            actor: "user:admin"
        )
    }

    @Test("passwords are bcrypt hashes that check the password")
    func passwords() {
        #expect(Self.passwordHash.hasPrefix("$2"))
        #expect(Password.verify(Secret("correct horse battery staple"), hash: Self.passwordHash))
        #expect(!Password.verify(Secret("correct horse battery stapl"), hash: Self.passwordHash))
        #expect(!Password.isAcceptable("short"))
        #expect(Password.isAcceptable(String(repeating: "a", count: 72)))
        #expect(!Password.isAcceptable(String(repeating: "a", count: 73)))
        #expect(!Password.isAcceptable(String(repeating: "é", count: 37)))
    }

    @Test("addresses are normalised and checked")
    func addresses() {
        #expect(User.normalizedEmail(" Ana@Acme.Test ") == "ana@acme.test")
        for bad in ["", "ana", "ana@", "@acme.test", "ana@acme", "a b@acme.test", "a@b@acme.test", "ana@.test"] {
            #expect(User.normalizedEmail(bad) == nil, "\(bad)")
        }
    }

    @Test(
        "a user is unique; a personal token authenticates until the user is disabled",
        arguments: StoreBackend.allCases
    )
    func tokens(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        try await add("ana@acme.test", to: store)
        await #expect(throws: UserError.exists("ana@acme.test")) { try await add("ana@acme.test", to: store) }
        let key = APIKey.generate(.personal)
        try await store.createToken(
            PersonalToken(id: key.id, email: "ana@acme.test", hash: key.hash, createdAt: now),
            actor: "user:admin"
        )
        #expect(try await store.authenticate(token: key.secret.reveal())?.email == "ana@acme.test")
        var forged = key.secret.reveal()
        let last = forged.removeLast()
        forged.append(last == "0" ? "1" : "0")
        #expect(try await store.authenticate(token: forged) == nil)
        // An agent key shaped the same way is not a personal token.
        #expect(try await store.authenticate(token: "csk" + key.secret.reveal().dropFirst(3)) == nil)
        try await store.disableUser(email: "ana@acme.test", actor: "user:admin", now: now)
        #expect(try await store.authenticate(token: key.secret.reveal()) == nil)
        await #expect(throws: UserError.notFound("nobody@acme.test")) {
            try await store.createToken(
                PersonalToken(
                    id: APIKey.generate(.personal).id,
                    email: "nobody@acme.test",
                    hash: key.hash,
                    createdAt: now
                ),
                actor: "user:admin"
            )
        }
    }

    @Test("a TOTP code works once, and the secret is stored sealed", arguments: StoreBackend.allCases)
    func stepUp(backend: StoreBackend) async throws {
        let opened = try await backend.open()
        let store = opened.store
        try await add("ana@acme.test", to: store)
        let box = try SecretBox(rawKey: SecretBox.generateRawKey())
        let secret = TOTP.generateSecret()
        try await store.enrollTOTP(
            email: "ana@acme.test",
            sealedSecret: try box.seal(secret, context: "ana@acme.test"),
            actor: "user:admin",
            now: now
        )
        let code = TOTP(secret: secret).code(at: now)
        let user = try #require(try await store.user(email: "ana@acme.test"))
        let record = try await store.stepUp(user, code: code, box: box, now: now)
        #expect(record.method == .totp)
        #expect(record.isStepUp(at: now, maxAge: 300))
        let again = try #require(try await store.user(email: "ana@acme.test"))
        await #expect(throws: UserError.badCode) { _ = try await store.stepUp(again, code: code, box: box, now: now) }
        // Even with a stale copy of the user (an earlier last step), the store refuses the reuse.
        await #expect(throws: UserError.badCode) { _ = try await store.stepUp(user, code: code, box: box, now: now) }
        let wrong = code == "000000" ? "111111" : "000000"
        await #expect(throws: UserError.badCode) {
            _ = try await store.stepUp(again, code: wrong, box: box, now: now.addingTimeInterval(60))
        }
        let next = TOTP(secret: secret).code(at: now.addingTimeInterval(30))
        _ = try await store.stepUp(again, code: next, box: box, now: now.addingTimeInterval(30))
        // Another data directory's key does not open the secret.
        let other = try SecretBox(rawKey: SecretBox.generateRawKey())
        await #expect(throws: SecretBoxError.self) {
            _ = try await store.stepUp(again, code: next, box: other, now: now.addingTimeInterval(60))
        }

        let stored = try await opened.storedValues()
        #expect(!stored.isEmpty)
        let needles = [Data(secret), Data(Base32.encode(secret).utf8), Data(Hex.encode(secret).utf8)]
        for blob in stored {
            for needle in needles { #expect(blob.range(of: needle) == nil) }
        }
    }

    @Test(
        "a web session round-trips, is touched forward only, replaced at step-up, ended, and audited",
        arguments: StoreBackend.allCases
    )
    func sessions(backend: StoreBackend) async throws {
        let opened = try await backend.open()
        let store = opened.store
        try await add("ana@acme.test", to: store)
        let authentication = AuthenticationRecord(method: .oidc, authTime: now, acr: "urn:mfa", amr: ["pwd", "otp"])
        let first = WebSession(
            id: "s-1",
            secretHash: Array(repeating: 7, count: 32),
            email: "ana@acme.test",
            createdAt: now,
            lastSeenAt: now,
            authentication: authentication
        )
        try await store.startSession(first, replacing: nil, event: "signed_in")
        #expect(try await store.session(id: "s-1") == first)
        try await store.touchSession(id: "s-1", at: now.addingTimeInterval(60))
        try await store.touchSession(id: "s-1", at: now.addingTimeInterval(30))
        #expect(try await store.session(id: "s-1")?.lastSeenAt == now.addingTimeInterval(60))
        // Step-up replaces the session; the old one is gone.
        let second = WebSession(
            id: "s-2",
            secretHash: Array(repeating: 9, count: 32),
            email: "ana@acme.test",
            createdAt: now.addingTimeInterval(90),
            lastSeenAt: now.addingTimeInterval(90),
            authentication: AuthenticationRecord(method: .totp, authTime: now.addingTimeInterval(90))
        )
        try await store.startSession(second, replacing: "s-1", event: "stepped_up")
        #expect(try await store.session(id: "s-1") == nil)
        #expect(try await store.session(id: "s-2") == second)
        try await store.endSession(id: "s-2", at: now.addingTimeInterval(120))
        #expect(try await store.session(id: "s-2") == nil)
        let audit = try await store.auditEntries(after: 0, limit: 100).map(\.text)
        #expect(
            ["signed_in", "stepped_up", "signed_out"].allSatisfy { change in audit.contains { $0.contains(change) } }
        )
        // The secret's hash is kept, never anything that would let one forge the cookie.
        #expect(!audit.joined().contains("secret"))
    }

    @Test(
        "sign-in state is shared: failures counted in a window and cleared; a pending sign-in lives five minutes",
        arguments: StoreBackend.allCases
    )
    func signInState(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        let keys = ["account:ana@acme.test", "address:192.0.2.7"]
        for second in 0..<3 {
            try await store.recordSignInFailure(
                keys: keys,
                at: now.addingTimeInterval(Double(second)),
                forgetBefore: now.addingTimeInterval(-900)
            )
        }
        let failures = try await store.signInFailures(keys: keys, since: now.addingTimeInterval(-1))
        #expect(failures["account:ana@acme.test"] == (0..<3).map { now.addingTimeInterval(Double($0)) })
        #expect(failures["address:192.0.2.7"]?.count == 3)
        #expect(try await store.signInFailures(keys: keys, since: now.addingTimeInterval(1))[keys[0]]?.count == 1)
        try await store.clearSignInFailures(key: keys[0])
        let cleared = try await store.signInFailures(keys: keys, since: now.addingTimeInterval(-1))
        #expect(cleared[keys[0]] ?? [] == [] && cleared[keys[1]]?.count == 3)
        // Failures older than the window are forgotten as new ones come.
        try await store.recordSignInFailure(
            keys: [keys[1]],
            at: now.addingTimeInterval(2000),
            forgetBefore: now.addingTimeInterval(1000)
        )
        #expect(try await store.signInFailures(keys: [keys[1]], since: .distantPast)[keys[1]]?.count == 1)

        let pending = PendingSignIn(
            tokenHash: Array(repeating: 1, count: 32),
            email: "ana@acme.test",
            browserHash: Array(repeating: 2, count: 32),
            expiresAt: now.addingTimeInterval(300)
        )
        try await store.startPendingSignIn(pending, now: now)
        #expect(
            try await store.pendingSignIn(tokenHash: pending.tokenHash, now: now.addingTimeInterval(299)) == pending
        )
        #expect(try await store.pendingSignIn(tokenHash: pending.tokenHash, now: now.addingTimeInterval(300)) == nil)
        #expect(try await store.pendingSignIn(tokenHash: Array(repeating: 3, count: 32), now: now) == nil)
        try await store.finishPendingSignIn(tokenHash: pending.tokenHash)
        #expect(try await store.pendingSignIn(tokenHash: pending.tokenHash, now: now) == nil)
    }

    @Test("a sealed secret opens only for the address it was sealed for")
    func sealedContext() throws {
        let box = try SecretBox(rawKey: SecretBox.generateRawKey())
        let sealed = try box.seal([1, 2, 3], context: "ana@acme.test")
        #expect(try box.open(sealed, context: "ana@acme.test") == [1, 2, 3])
        #expect(throws: SecretBoxError.self) { try box.open(sealed, context: "bob@acme.test") }
        var altered = sealed
        altered[altered.count - 1] ^= 1
        #expect(throws: SecretBoxError.self) { try box.open(altered, context: "ana@acme.test") }
    }

    @Test("user changes are audited without secrets", arguments: StoreBackend.allCases)
    func audited(backend: StoreBackend) async throws {
        let store = try await backend.open().store
        try await add("ana@acme.test", to: store)
        let entries = try await store.auditEntries(after: 0, limit: 10)
        #expect(entries.count == 1)
        let body = try JSONParser().parse(try #require(entries.first).body)
        #expect(body["kind"] == .string(AuditKind.userChanged))
        #expect(body["data"]?["user"] == "ana@acme.test")
        #expect(!(entries.first?.text.contains(Self.passwordHash) ?? true))
    }
}
