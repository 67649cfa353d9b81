import HummingbirdBcrypt

/// Password hashing with bcrypt.
public enum Password {
    /// The bcrypt cost (2^12 rounds, about a quarter of a second).
    public static let cost: UInt8 = 12

    /// Whether a password is acceptable: at least 12 characters and at most 72 bytes of UTF-8,
    /// because bcrypt ignores everything after the 72nd byte (a longer one would only seem stronger).
    public static func isAcceptable(_ password: String) -> Bool {
        password.count >= 12 && password.utf8.count <= 72
    }

    /// Hashes a password with a fresh salt.
    ///
    /// - Parameters:
    ///   - password: The password.
    ///   - cost: The log2 of the rounds; only tests lower it.
    /// - Returns: The bcrypt hash, salt included.
    public static func hash(_ password: Secret, cost: UInt8 = Password.cost) -> String {
        Bcrypt.hash(password.reveal(), cost: cost)
    }

    /// Checks a password against a stored hash.
    public static func verify(_ password: Secret, hash: String) -> Bool {
        Bcrypt.verify(password.reveal(), hash: hash)
    }
}
