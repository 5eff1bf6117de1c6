//! Python-aware input for the console editor: when Enter runs the snippet (decided
//! like `codeop`: a complete statement runs, an open block, bracket or string waits
//! for more), auto-indent and dedent, Backspace to the previous indent stop.

use super::commands::{Decl, Scope};
use super::{App, Effect};
use crate::tui::keymap::Command;

/// One indent level.
pub const INDENT: usize = 4;

#[rustfmt::skip]
pub const COMMANDS: &[Decl] = &[
    Decl::key(Command::Submit, App::submit_editor, "run", "run the snippet when it is complete (else a new line, indented)").only(&[Scope::Editor]),
    Decl::key(Command::Newline, App::editor_newline, "newline", "insert a new line (never runs)").only(&[Scope::Editor]),
    Decl::key(Command::FocusTree, App::focus_tree, "tree, ? help", "back to the gateway tree (where ? shows the help)").only(&[Scope::Editor]),
];

/// What the scanner saw at the end of the code.
#[derive(Debug, Default)]
struct Scan {
    /// Open brackets.
    depth: usize,
    /// Inside a triple-quoted string.
    in_triple: bool,
    /// The last line ends with a backslash continuation.
    continued: bool,
    /// The last significant character of the last line (not in a comment).
    last_char: Option<char>,
    /// A logical line ended with `:` (a block header).
    block: bool,
}

/// Scans Python source for brackets, strings, comments and continuations.
fn scan(code: &str) -> Scan {
    let mut s = Scan::default();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    // Some((quote, triple)) while in a string
    let mut string: Option<(char, bool)> = None;
    while i < chars.len() {
        let c = chars[i];
        match string {
            Some((q, triple)) => {
                if c == '\\' {
                    i += 2;
                    continue;
                }
                if c == '\n' && !triple {
                    // an unterminated one-line string ends at the line end (a syntax
                    // error the interpreter reports)
                    string = None;
                    s.last_char = None;
                } else if c == q {
                    if !triple {
                        string = None;
                        s.last_char = Some(c);
                    } else if chars.get(i + 1) == Some(&q) && chars.get(i + 2) == Some(&q) {
                        string = None;
                        s.last_char = Some(c);
                        i += 3;
                        continue;
                    }
                }
            }
            None => match c {
                '#' => {
                    while i < chars.len() && chars[i] != '\n' {
                        i += 1;
                    }
                    continue;
                }
                '\'' | '"' => {
                    let triple = chars.get(i + 1) == Some(&c) && chars.get(i + 2) == Some(&c);
                    string = Some((c, triple));
                    s.last_char = Some(c);
                    if triple {
                        i += 3;
                        continue;
                    }
                }
                '(' | '[' | '{' => {
                    s.depth += 1;
                    s.last_char = Some(c);
                }
                ')' | ']' | '}' => {
                    s.depth = s.depth.saturating_sub(1);
                    s.last_char = Some(c);
                }
                '\n' => {
                    if s.depth == 0 && s.last_char == Some(':') {
                        s.block = true;
                    }
                    if !(s.depth > 0 || s.last_char == Some('\\')) {
                        s.last_char = None;
                    }
                }
                c if c.is_whitespace() => {}
                c => s.last_char = Some(c),
            },
        }
        i += 1;
    }
    s.in_triple = matches!(string, Some((_, true)));
    s.continued = s.last_char == Some('\\');
    s
}

/// Whether Enter runs `code` (like `codeop`): a complete statement runs; an open
/// bracket, string or `\` continuation, a block header (`for …:`) or an indented last
/// line wait for more, and an empty line closes the block.
pub fn is_complete(code: &str) -> bool {
    if code.trim().is_empty() {
        return false;
    }
    let s = scan(code);
    if s.depth > 0 || s.in_triple || s.continued {
        return false;
    }
    let last = code.rsplit('\n').next().unwrap_or("");
    if last.trim().is_empty() {
        return true;
    }
    if s.last_char == Some(':') || last.trim_start().starts_with('@') {
        return false;
    }
    // inside a block: an empty line closes it
    !s.block
}

/// The indent of the line after `line`: the same, one level more after a block
/// header, one less after a statement that ends its block.
pub fn next_indent(line: &str) -> usize {
    let indent = line.chars().take_while(|c| *c == ' ').count();
    let s = scan(line);
    let code = line.trim();
    let word = code
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .next()
        .unwrap_or("");
    if s.last_char == Some(':') && s.depth == 0 {
        indent + INDENT
    } else if matches!(word, "return" | "pass" | "break" | "continue" | "raise") {
        indent.saturating_sub(INDENT)
    } else {
        indent
    }
}

/// How many spaces Backspace removes at column `col` of `line`: back to the previous
/// indent stop when only spaces are before the cursor, else none (a plain Backspace).
pub fn dedent_width(line: &str, col: usize) -> usize {
    let before: String = line.chars().take(col).collect();
    if col == 0 || !before.chars().all(|c| c == ' ') {
        return 0;
    }
    (col - 1) % INDENT + 1
}

impl App {
    /// Enter in the editor: runs a complete snippet, else opens the next line.
    fn submit_editor(&mut self) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let c = &mut self.gateways[i].console;
        let code = c.code();
        if code.trim().is_empty() {
            return vec![];
        }
        let row = c.editor.cursor().0;
        let on_last = row + 1 >= c.editor.lines().len();
        if on_last && is_complete(&code) {
            // trailing empty lines close the block; they are not part of the snippet
            let trimmed = code.trim_end().to_string();
            if trimmed != code {
                c.editor = super::editor_with(&trimmed);
            }
            return self.run_editor();
        }
        self.editor_newline()
    }

    /// A new line in the editor, indented for Python.
    pub(super) fn editor_newline(&mut self) -> Vec<Effect> {
        let Some(i) = self.selected_index() else {
            return vec![];
        };
        let c = &mut self.gateways[i].console;
        let ratatui_textarea::DataCursor(row, col) = c.editor.cursor();
        let line = c.editor.lines().get(row).cloned().unwrap_or_default();
        let head: String = line.chars().take(col).collect();
        let n = next_indent(&head);
        c.editor.insert_newline();
        c.editor.insert_str(" ".repeat(n));
        vec![]
    }

    /// Backspace in the editor: to the previous indent stop in leading spaces.
    pub(super) fn editor_backspace(&mut self) -> bool {
        let Some(i) = self.selected_index() else {
            return false;
        };
        let c = &mut self.gateways[i].console;
        let ratatui_textarea::DataCursor(row, col) = c.editor.cursor();
        let line = c.editor.lines().get(row).cloned().unwrap_or_default();
        let n = dedent_width(&line, col);
        if n == 0 {
            return false;
        }
        for _ in 0..n {
            c.editor.delete_char();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_like_codeop() {
        assert!(is_complete("print(6*7)"));
        assert!(is_complete("x = 1\ny = 2"));
        assert!(is_complete("if True: print(1)"));
        assert!(!is_complete("for i in range(3):"));
        assert!(!is_complete("for i in range(3):\n    print(i)"));
        assert!(is_complete("for i in range(3):\n    print(i)\n    "));
        assert!(is_complete("for i in range(3):\n    print(i)\n"));
        assert!(!is_complete("print(1,"));
        assert!(!is_complete("x = [1,\n 2"));
        assert!(is_complete("x = [1,\n 2]"));
        assert!(!is_complete("for i in x:\n    f(i)\ny = 1"));
        assert!(!is_complete("s = '''abc"));
        assert!(is_complete("s = '''a\nb'''"));
        assert!(!is_complete("x = 1 + \\"));
        assert!(!is_complete("@decorator"));
        assert!(is_complete("x = ':'  # a comment:"));
        assert!(!is_complete("if x:  # why"));
        assert!(is_complete("d = {'a': 1}"));
        assert!(is_complete("s = 'it''s'"));
        assert!(is_complete("s = \"(\""));
        assert!(!is_complete(""));
        assert!(!is_complete("   "));
    }

    #[test]
    fn indents() {
        assert_eq!(next_indent("for i in x:"), 4);
        assert_eq!(next_indent("    print(i)"), 4);
        assert_eq!(next_indent("        return x"), 4);
        assert_eq!(next_indent("    pass"), 0);
        assert_eq!(next_indent("    raise ValueError()"), 0);
        assert_eq!(next_indent("    passing = 1"), 4);
        assert_eq!(next_indent("d = {'a':"), 0);
        assert_eq!(dedent_width("        ", 8), 4);
        assert_eq!(dedent_width("      ", 6), 2);
        assert_eq!(dedent_width("    x", 5), 0);
        assert_eq!(dedent_width("", 0), 0);
    }
}
