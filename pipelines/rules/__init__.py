"""The desk's editable rules: the theme language, cause dictionary and severity cues, read from data/rules/."""
