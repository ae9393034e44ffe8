"""Selector healing: find the element a broken locator meant, or decide that no single element is right.

Pure, no I/O. ``dom`` parses a DOM snapshot as a browser does (HTML5) and computes what locators match
on (roles, accessible names, labels, visibility); ``locators`` reads the locators a spec writes, in
every runner healloop supports, and writes them back in the same style; ``resolve`` finds what a
locator finds; ``score`` weighs candidates; ``heal`` ties them together for one failure.
"""
