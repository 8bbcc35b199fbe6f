#!/usr/bin/env python3
"""Checks the documentation references of the repository (standard library only).

1. Every `docs/<file>.md` or `docs/<file>.md#<anchor>` reference in the source, test, tool,
   example, bench, script, fuzz and docs trees (and the top-level files) names an existing file,
   and, with an anchor, a heading of that file (GitHub's anchors: the heading's text in lower
   case, punctuation dropped, spaces turned into '-', '-1', '-2', ... added to repeats).
2. Relative Markdown links between the documents (`[text](algorithms.md#gpfq)`, `[text](#x)`)
   resolve the same way.
3. No reference to the retired specification files (the names in RETIRED_SPEC_NAMES) remains
   anywhere in the repository, except in the files of LEGACY_REFERENCES_ALLOWED.

Usage: check_doc_references.py [REPO_ROOT]   (default: two directories above this script)
Exit status 0 when everything resolves, 1 otherwise (each problem printed as path:line: text).
"""

import os
import re
import sys

# Files that may name the retired specification files (relative to the repository root); none.
LEGACY_REFERENCES_ALLOWED = set()

# The retired specification files, spelled so that this script does not name them itself.
RETIRED_SPEC_NAMES = ("ALGORITHMS" + ".md", "DESIGN" + ".md")

# Where `docs/<file>.md` references are checked: these trees and the top-level files.
REFERENCE_TREES = ("include", "tools", "tests", "examples", "bench", "scripts", "fuzz", "docs", "cmake")

# Never walked: version control, caches, and build trees (top-level names starting with "build",
# and any directory holding a CMakeCache.txt).
SKIPPED_DIRS = {".git", "__pycache__", "out"}
MAX_FILE_BYTES = 4 << 20

DOC_REF = re.compile(r"(?<![\w./-])docs/((?:[\w.-]+/)*[\w.-]+\.md)(?:#([\w-]*))?")
MD_LINK = re.compile(r"\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)\s*=\s*[\"']([^\"']+)[\"']", re.IGNORECASE)


def slug(text):
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links and images: their text
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML tags
    text = text.replace("`", "").replace("*", "")
    text = text.strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors_of(path):
    """The anchors a Markdown file defines: its headings' (outside code fences) and HTML ones."""
    anchors, seen = set(), {}
    fence = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = FENCE.match(line)
            if m:
                marker = m.group(1)
                if fence is None:
                    fence = marker[0] * 3
                elif marker.startswith(fence):
                    fence = None
                continue
            if fence is not None:
                continue
            for a in HTML_ANCHOR.findall(line):
                anchors.add(a)
            h = HEADING.match(line)
            if not h:
                continue
            base = slug(h.group(2))
            n = seen.get(base, 0)
            seen[base] = n + 1
            anchors.add(base if n == 0 else "%s-%d" % (base, n))
    return anchors


def walk(root, top):
    """Text files under root/top (or the top-level files when top is None), as relative paths."""
    if top is None:
        for name in sorted(os.listdir(root)):
            if os.path.isfile(os.path.join(root, name)):
                yield name
        return
    base = os.path.join(root, top)
    if not os.path.isdir(base):
        return
    for d, dirs, files in os.walk(base):
        if "CMakeCache.txt" in files:
            dirs[:] = []
            continue
        dirs[:] = sorted(x for x in dirs if x not in SKIPPED_DIRS)
        for name in sorted(files):
            yield os.path.relpath(os.path.join(d, name), root)


def read_text(root, rel):
    path = os.path.join(root, rel)
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


class Checker:
    def __init__(self, root):
        self.root = root
        self.anchor_cache = {}
        self.problems = []
        self.references = 0

    def anchors(self, rel):
        if rel not in self.anchor_cache:
            path = os.path.join(self.root, rel)
            self.anchor_cache[rel] = anchors_of(path) if os.path.isfile(path) else None
        return self.anchor_cache[rel]

    def check_target(self, where, shown, rel, anchor):
        self.references += 1
        found = self.anchors(rel)
        if found is None:
            self.problems.append("%s: %s: no file %s" % (where, shown, rel))
        elif anchor and anchor not in found:
            self.problems.append("%s: %s: %s has no heading with anchor #%s" % (where, shown, rel, anchor))

    def check_file(self, rel, text, check_docs):
        is_markdown = rel.endswith(".md")
        for number, line in enumerate(text.splitlines(), 1):
            where = "%s:%d" % (rel, number)
            for name in RETIRED_SPEC_NAMES:
                if name in line and rel.replace(os.sep, "/") not in LEGACY_REFERENCES_ALLOWED:
                    self.problems.append("%s: names %s (retired: point into docs/ instead)" % (where, name))
            if check_docs:
                for m in DOC_REF.finditer(line):
                    self.check_target(where, m.group(0), os.path.join("docs", m.group(1)), m.group(2))
            if is_markdown:
                for m in MD_LINK.finditer(line):
                    self.check_link(where, rel, m.group(1))

    def check_link(self, where, rel, target):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            return  # empty, or a URL (http:, mailto:, ...)
        path, _, anchor = target.partition("#")
        if path and not path.endswith(".md"):
            return  # images, source files: not headings
        linked = os.path.normpath(os.path.join(os.path.dirname(rel), path)) if path else rel
        if linked.startswith(".."):
            return
        self.check_target(where, target, linked, anchor)

    def run(self):
        seen = set()
        for top in (None,) + REFERENCE_TREES:
            for rel in walk(self.root, top):
                seen.add(rel)
                text = read_text(self.root, rel)
                if text is not None:
                    self.check_file(rel, text, check_docs=True)
        # The retired names anywhere else in the repository (build trees aside).
        for name in sorted(os.listdir(self.root)):
            if name in REFERENCE_TREES or name in SKIPPED_DIRS or name.startswith("build"):
                continue
            if not os.path.isdir(os.path.join(self.root, name)):
                continue
            for rel in walk(self.root, name):
                if rel in seen:
                    continue
                text = read_text(self.root, rel)
                if text is not None:
                    self.check_file(rel, text, check_docs=False)
        return self.problems


def main(argv):
    root = os.path.abspath(argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
    if not os.path.isfile(os.path.join(root, "docs", "algorithms.md")):
        print("check_doc_references: %s does not look like the pathq repository" % root, file=sys.stderr)
        return 1
    checker = Checker(root)
    problems = checker.run()
    for p in problems:
        print(p)
    if problems:
        print("check_doc_references: %d problem(s) in %d references" % (len(problems), checker.references))
        return 1
    allowed = ", ".join(sorted(LEGACY_REFERENCES_ALLOWED))
    print("check_doc_references: %d references resolve; no retired specification names%s"
          % (checker.references, " outside " + allowed if allowed else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
