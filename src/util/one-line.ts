// Errors, log fields and /status texts are one line each: a backend's body, a parser's message
// or a library's assertion may span several.

/** `text` with every run of whitespace (newlines included) made one space, trimmed. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
