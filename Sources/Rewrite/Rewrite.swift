// Rewrite module
