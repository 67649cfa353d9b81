public import Countersign

/// The catalogs Countersign ships with.
public enum Catalogs {
    /// The local connectors: `files`, `shell` and `http`.
    public static func local() -> OperationCatalog {
        do {
            return OperationCatalog(
                try FilesOperations.descriptors() + ShellOperations.descriptors() + HTTPOperations.descriptors()
            )
        } catch {
            // The schemas are literals in this target; a failure is a programming error caught by the tests.
            preconditionFailure("a built-in operation schema does not compile: \(error)")
        }
    }

    /// Every operation Countersign ships: the local connectors and the providers' (GitHub, Slack,
    /// Gmail, Google Calendar).
    public static func standard() -> OperationCatalog {
        do {
            return OperationCatalog(
                local().descriptors + (try GitHubOperations.descriptors()) + (try SlackOperations.descriptors())
                    + (try GoogleOperations.descriptors())
            )
        } catch {
            preconditionFailure("a built-in operation schema does not compile: \(error)")
        }
    }
}
