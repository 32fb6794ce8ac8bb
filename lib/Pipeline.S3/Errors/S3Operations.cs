namespace Pipeline.S3.Errors;

/// <summary>The S3 API operations this adapter sends, by their API names (as IAM and the S3 docs name them).</summary>
internal static class S3Operations
{
    public const string CreateMultipartUpload = "CreateMultipartUpload";
    public const string UploadPart = "UploadPart";
    public const string CompleteMultipartUpload = "CompleteMultipartUpload";
    public const string AbortMultipartUpload = "AbortMultipartUpload";
    public const string PutObject = "PutObject";
    public const string HeadObject = "HeadObject";
    public const string DeleteObject = "DeleteObject";
    public const string HeadBucket = "HeadBucket";
    public const string GetBucketLocation = "GetBucketLocation";
    public const string ListMultipartUploads = "ListMultipartUploads";
}
