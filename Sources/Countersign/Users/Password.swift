import HummingbirdBcrypt

/// Password hashing with bcrypt.
public enum Password {
    /// The bcrypt cost (2^12 rounds, about a quarter of a second).
    public static let cost: UInt8 = 12

    /// Whether a password is acceptable: 12 to 256 characters (bcrypt reads at most 72 bytes).
    public static func isAcceptable(_ password: String) -> Bool { (12...256).contains(password.count) }

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
