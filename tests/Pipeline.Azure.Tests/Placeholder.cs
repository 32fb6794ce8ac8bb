namespace Pipeline.Azure.Tests;
