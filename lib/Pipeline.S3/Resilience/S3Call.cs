namespace Pipeline.S3.Resilience;

/// <summary>One S3 request as the logs and error messages name it: the operation, the object, and the upload and part when there are some.</summary>
internal sealed record S3Call(string Operation, string Bucket, string? Key = null, string? UploadId = null, int? Part = null)
{
    public string Target => Key is null ? $"s3://{Bucket}" : $"s3://{Bucket}/{Key}";
}
