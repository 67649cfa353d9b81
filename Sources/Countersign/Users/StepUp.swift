public import Foundation

extension UserStore {
    /// Verifies a TOTP code for step-up at the moment of a decision, and uses it up.
    ///
    /// - Parameters:
    ///   - user: The approver.
    ///   - code: The code they typed.
    ///   - box: Opens their sealed TOTP secret.
    ///   - now: The time of the decision.
    /// - Returns: The authentication to record with the decision.
    /// - Throws: ``UserError/noTOTP(_:)`` when they have no authenticator, ``UserError/badCode`` when
    ///   the code is wrong, outside the ±30 s window, or was already used (each code works once).
    public func stepUp(_ user: User, code: String, box: SecretBox, now: Date) async throws -> AuthenticationRecord {
        guard let sealed = user.sealedTOTPSecret else { throw UserError.noTOTP(user.email) }
        let secret = try box.open(sealed, context: user.email)
        guard let step = TOTP(secret: secret).verify(code, at: now, lastUsedStep: user.totpLastStep),
            try await consumeTOTP(email: user.email, step: step)
        else { throw UserError.badCode }
        return AuthenticationRecord(method: .totp, authTime: now, amr: ["otp"])
    }
}
