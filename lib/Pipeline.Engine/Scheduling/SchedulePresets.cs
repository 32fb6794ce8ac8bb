using System.Globalization;

namespace Pipeline.Engine.Scheduling;

/// <summary>Presets users ask for, as cron expressions.</summary>
public static class SchedulePresets
{
    public static readonly int[] AllowedHourIntervals = [1, 3, 6, 8, 12];

    /// <summary>"02:00" -> "0 2 * * *".</summary>
    public static bool TryDaily(string at, out string cron, out string description)
    {
        cron = description = "";
        if (!TryTime(at, out var h, out var m)) return false;
        cron = $"{m} {h} * * *";
        description = $"daily at {h:00}:{m:00}";
        return true;
    }

    /// <summary>"6h" or "6" -> "0 */6 * * *" (at minute 0 of every 6th hour, local time).</summary>
    public static bool TryEvery(string every, out string cron, out string description)
    {
        cron = description = "";
        var s = every.Trim().TrimEnd('h', 'H');
        if (!int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out var hours) || !AllowedHourIntervals.Contains(hours)) return false;
        cron = hours == 1 ? "0 * * * *" : $"0 */{hours} * * *";
        description = hours == 1 ? "every hour" : $"every {hours} hours";
        return true;
    }

    /// <summary>"monday 02:00" -> "0 2 * * 1".</summary>
    public static bool TryWeekly(string text, out string cron, out string description)
    {
        cron = description = "";
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 2 || !TryTime(parts[1], out var h, out var m)) return false;
        var day = Enum.GetValues<DayOfWeek>().Cast<DayOfWeek?>().FirstOrDefault(d =>
            d.ToString()!.StartsWith(parts[0], StringComparison.OrdinalIgnoreCase) && parts[0].Length >= 3);
        if (day is null) return false;
        cron = $"{m} {h} * * {(int)day}";
        description = $"weekly on {day} at {h:00}:{m:00}";
        return true;
    }

    private static bool TryTime(string s, out int hour, out int minute)
    {
        hour = minute = 0;
        return TimeOnly.TryParseExact(s.Trim(), ["HH:mm", "H:mm"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var t)
               && (hour = t.Hour) >= 0 && (minute = t.Minute) >= 0;
    }
}
