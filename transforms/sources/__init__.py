"""Where images come from: a bucket or folder listing, manifest files, GCS notifications on Pub/Sub."""
