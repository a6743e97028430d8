# The cumulative-dose columns name no drug: the protocol says which drug they hold (issue 15).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('dosing', '0002_role_permissions'),
    ]

    operations = [
        migrations.RenameField(model_name='dosesheet', old_name='oxaliplatin_mg', new_name='cumulative_drug_mg'),
        migrations.RenameField(model_name='dosesheet', old_name='oxaliplatin_mg_m2', new_name='cumulative_drug_mg_m2'),
        migrations.RenameField(model_name='historicaldosesheet', old_name='oxaliplatin_mg', new_name='cumulative_drug_mg'),
        migrations.RenameField(model_name='historicaldosesheet', old_name='oxaliplatin_mg_m2', new_name='cumulative_drug_mg_m2'),
        migrations.AlterField(
            model_name='dosesheet',
            name='cumulative_drug_mg',
            field=models.DecimalField(blank=True, decimal_places=1, max_digits=8, null=True, verbose_name='cumulative drug, this cycle (mg)'),
        ),
        migrations.AlterField(
            model_name='dosesheet',
            name='cumulative_drug_mg_m2',
            field=models.DecimalField(blank=True, decimal_places=1, max_digits=8, null=True, verbose_name='cumulative drug, this cycle (mg/m²)'),
        ),
        migrations.AlterField(
            model_name='historicaldosesheet',
            name='cumulative_drug_mg',
            field=models.DecimalField(blank=True, decimal_places=1, max_digits=8, null=True, verbose_name='cumulative drug, this cycle (mg)'),
        ),
        migrations.AlterField(
            model_name='historicaldosesheet',
            name='cumulative_drug_mg_m2',
            field=models.DecimalField(blank=True, decimal_places=1, max_digits=8, null=True, verbose_name='cumulative drug, this cycle (mg/m²)'),
        ),
    ]
