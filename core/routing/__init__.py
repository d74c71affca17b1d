"""Who works what: members' availability, their work schedules, and handing assists out."""
