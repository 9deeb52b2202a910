"""What happens to each image: read and decode, annotate (Cloud Vision or local models),
parse into a row, copy into its category folder."""
