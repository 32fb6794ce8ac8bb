namespace Pipeline.S3.Tests;
