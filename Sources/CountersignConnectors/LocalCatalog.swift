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
}
