  # TOML: the [[migrations]], [[env.<name>.migrations]] and [exports...] tables (and inline
  # `migrations = [...]` / `exports = {...}` keys), without comments and blank lines
  awk '
    /^[[:space:]]*\[/ && !inline {
      section = ($0 ~ /^[[:space:]]*\[\[?[[:space:]]*(env\.[^].]+\.)?(migrations|exports)[[:space:]]*[].]/)
    }
    /^[[:space:]]*(migrations|exports)[[:space:]]*=/ { inline = 1; depth = 0 }
    section || inline {
      line = $0
      sub(/[[:space:]]*#.*$/, "", line)
      gsub(/[[:space:]]+/, " ", line)
      if (length(line) > 0 && line != " ") print line
    }
    inline {
      opened = gsub(/[[{]/, "&", line)
      closed = gsub(/[]}]/, "&", line)
      depth += opened - closed
      if (depth <= 0) inline = 0
    }
  '
