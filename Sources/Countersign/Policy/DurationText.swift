/// Durations as policies and the CLI write them: `90s`, `15m`, `2h`, `1d`.
public enum DurationText {
    /// The number of seconds, or `nil` when the text is not a positive whole number followed by s, m, h or d.
    public static func seconds(_ text: String) -> Int? {
        guard let unit = text.last, let amount = Int(text.dropLast()), amount > 0, amount <= 1_000_000,
            let multiplier = ["s": 1, "m": 60, "h": 3600, "d": 86400][String(unit)]
        else { return nil }
        return amount * multiplier
    }
}
