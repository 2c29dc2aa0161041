// iPXE's console prints bytes, not UTF-8: "Démarrer" would show as "DÃ©marrer" on a
// real screen. Text bound for iPXE scripts is transliterated to plain ASCII here; the
// UTF-8 original stays in the menu model and in preseeds.

import Foundation

public enum ASCIIText {
    /// Letters that do not decompose into a base letter plus accents.
    private static let replacements: [Character: String] = [
        "œ": "oe", "Œ": "OE", "æ": "ae", "Æ": "AE", "ß": "ss", "ø": "o", "Ø": "O", "ł": "l", "Ł": "L",
        "đ": "d", "Đ": "D", "þ": "th", "Þ": "TH", "ð": "d", "Ð": "D", "ı": "i",
        "«": "\"", "»": "\"", "“": "\"", "”": "\"", "„": "\"", "‘": "'", "’": "'", "‚": "'", "′": "'",
        "–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-", "…": "...", "•": "*", "·": ".",
        "€": "EUR", "£": "GBP", "©": "(c)", "®": "(R)", "™": "TM", "°": "o", "×": "x",
    ]

    /// ASCII approximation: accents dropped (é → e), ligatures spelled out (œ → oe),
    /// typographic punctuation replaced, spaces of every kind made plain, and anything
    /// left over shown as '?'. Control characters and line breaks become spaces, so a
    /// label can never add a line to a script.
    public static func transliterate(_ text: String) -> String {
        var out = ""
        for character in text {
            if character.isASCII {
                out.append(character.isNewline || character.asciiValue! < 0x20 || character.asciiValue == 0x7f ? " " : character)
            } else if let replacement = replacements[character] {
                out += replacement
            } else if character.isWhitespace {
                out += " "
            } else {
                // Canonical decomposition splits "é" into "e" + U+0301; keep the ASCII part.
                let base = String(character).decomposedStringWithCanonicalMapping.unicodeScalars.filter(\.isASCII)
                out += base.isEmpty ? "?" : String(String.UnicodeScalarView(base))
            }
        }
        return out
    }

    /// A whole script, line by line: template text gets the same treatment as values.
    static func transliterateLines(_ script: String) -> String {
        guard !script.allSatisfy(\.isASCII) else { return script }
        return script.split(separator: "\n", omittingEmptySubsequences: false).map { transliterate(String($0)) }.joined(separator: "\n")
    }
}
